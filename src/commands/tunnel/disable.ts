import { toggleCommand } from "./_toggle.ts";

export const disable = toggleCommand(false);
