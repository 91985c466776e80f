/**
 * The group file as `tunnel up --help` explains it (README.md#groups, docs/groups.md say more).
 */
export const GROUP_FILE_HELP = `THE GROUP FILE (YAML)

  name: web-stack             # required: the group; its identity and state are tunnels/web-stack/
  project: my-project         # optional: else the current datumctl context's project
  session: ci-bot             # optional: the datumctl session
  health: 127.0.0.1:9464      # optional: /livez, /readyz and /metrics for the whole group
  tunnels:                    # required: one or more services, each its own tunnel and hostname
    - name: app               # required, unique in the file: lowercase letters, digits, '-'
      endpoint: 127.0.0.1:3000  # required: host:port or http(s)://host:port, as --endpoint
      label: Storefront       # optional: default "<group>/<name>"
    - name: api
      endpoint: 127.0.0.1:8080

  The whole file is checked before anything changes: a problem exits 65 naming the file, the
  service and the field. Once every service is verified, stdout gets one "name URL" line each; a
  service whose origin does not answer is shown degraded and does not hold the others back.

RELOAD

  When the file changes (and on SIGHUP, or 'tunnel reload --name G' from another terminal) the
  group converges to it: added services are created, removed ones disabled (kept in Datum; with
  --prune deleted), changed endpoints and labels updated; the others are not touched. A file that
  cannot be applied is refused whole and everything keeps serving.`;
