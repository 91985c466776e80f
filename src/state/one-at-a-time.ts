/**
 * Read-modify-write cycles on one file, one at a time within this process: a job for a path starts
 * once every earlier job for it has settled, so two concurrent edits never lose each other's change
 * (the allow-list, a group's services.json). Across processes the slot's lock owns the files.
 */
const pending = new Map<string, Promise<unknown>>();

export function oneAtATime<T>(path: string, job: () => Promise<T>): Promise<T> {
  const previous = pending.get(path) ?? Promise.resolve();
  const run = previous.catch(() => undefined).then(job);
  pending.set(path, run);
  void run
    .finally(() => {
      if (pending.get(path) === run) pending.delete(path);
    })
    .catch(() => undefined);
  return run;
}
