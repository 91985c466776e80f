import { defineCommand } from "citty";

export const tunnel = defineCommand({
  meta: { name: "tunnel", description: "Expose local services at public Datum hostnames" },
  subCommands: {
    list: () => import("./list.ts").then((m) => m.list),
    listen: () => import("./listen.ts").then((m) => m.listen),
    update: () => import("./update.ts").then((m) => m.update),
    enable: () => import("./enable.ts").then((m) => m.enable),
    disable: () => import("./disable.ts").then((m) => m.disable),
    delete: () => import("./delete.ts").then((m) => m.del),
    ps: () => import("./ps.ts").then((m) => m.ps),
    stop: () => import("./stop.ts").then((m) => m.stop),
  },
});
