import { defineCommand } from "citty";

export const tunnel = defineCommand({
  meta: { name: "tunnel", description: "Expose local services at public Datum hostnames" },
  subCommands: {
    list: () => import("./list.ts").then((m) => m.list),
    listen: () => import("./listen.ts").then((m) => m.listen),
    up: () => import("./up.ts").then((m) => m.up),
    reload: () => import("./reload.ts").then((m) => m.reload),
    update: () => import("./update.ts").then((m) => m.update),
    enable: () => import("./enable.ts").then((m) => m.enable),
    disable: () => import("./disable.ts").then((m) => m.disable),
    delete: () => import("./delete.ts").then((m) => m.del),
    logs: () => import("./logs.ts").then((m) => m.logs),
    ps: () => import("./ps.ts").then((m) => m.ps),
    stop: () => import("./stop.ts").then((m) => m.stop),
    status: () => import("./status.ts").then((m) => m.status),
    install: () => import("./install.ts").then((m) => m.install),
    uninstall: () => import("./uninstall.ts").then((m) => m.uninstall),
    start: () => import("./start.ts").then((m) => m.start),
    run: () => import("./run.ts").then((m) => m.run),
    doctor: () => import("./doctor.ts").then((m) => m.doctor),
    _daemon: () => import("./daemon.ts").then((m) => m.daemon),
  },
});
