/**
 * `dev datumctl -- <datumctl args…>`: the datumctl test double (src/devcloud/datumctl-double) run by
 * the executable itself. Hidden: it exists for `dev cloud` inside a compiled executable, where the
 * double's `main.ts` is not on disk, so the wrapper `installDatumctlDouble()` writes runs this
 * instead. The `--` keeps this CLI's flag parsing (`--error-format`, `--help`, unknown flags) away
 * from datumctl's flags; everything after it is the double's argv, verbatim.
 */
import { defineCommand } from "citty";

export const datumctl = defineCommand({
  meta: {
    name: "datumctl",
    description: "Run the datumctl test double (used by dev cloud in compiled executables)",
    hidden: true,
  },
  async run({ rawArgs }) {
    const argv = rawArgs[0] === "--" ? rawArgs.slice(1) : rawArgs;
    const { runDatumctlDouble } = await import("../../devcloud/datumctl-double/double.ts");
    await runDatumctlDouble(argv);
  },
});
