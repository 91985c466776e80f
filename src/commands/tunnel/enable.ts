import { toggleCommand } from "./_toggle.ts";

export const enable = toggleCommand(true);
