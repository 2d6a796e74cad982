import type { AppModule } from "../../core/http/module.js";
import { createRolesService } from "../rbac/index.js";
import { invitationsRoutes } from "./invitations.routes.js";
import { createInvitationsService } from "./invitations.service.js";

export { invitationsCleanups } from "./invitations.service.js";

/** Invitations to join a tenant: create, list, revoke, accept. */
export const invitationsModule: AppModule = async (app, dependencies) => {
  await app.register(invitationsRoutes, {
    invitations: createInvitationsService({
      ...dependencies,
      tenantRoles: createRolesService(),
    }),
  });
};
