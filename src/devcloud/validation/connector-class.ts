/** ConnectorClass (`networking.datumapis.com/v1alpha1`, cluster-scoped): which controller serves Connectors. */
import { typeMeta } from "./common.ts";
import { object, string } from "./schema.ts";

export const connectorClassSchema = object(
  {
    ...typeMeta,
    spec: object(
      { controllerName: string({ minLength: 1, maxLength: 253, default: "networking.datumapis.com/datum-connect" }) },
      { required: ["controllerName"] },
    ),
    status: object({}),
  },
  { required: ["spec"] },
);
