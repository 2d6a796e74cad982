import type { AppModule } from "../../core/http/module.js";
import type { ExpiredRowsCleanup } from "../../core/jobs/index.js";
import { invitationsSystemRepository } from "./invitations.repository.js";
import { invitationsRoutes } from "./invitations.routes.js";
import { createInvitationsService } from "./invitations.service.js";

/** Ended invitations are kept this long (who invited whom), then deleted by the daily cleanup. */
const ENDED_RETENTION_DAYS = 30;

export const invitationsCleanups: readonly ExpiredRowsCleanup[] = [
  {
    name: "ended invitations",
    run: (db, now) =>
      invitationsSystemRepository(db).deleteEndedBefore(
        new Date(now.getTime() - ENDED_RETENTION_DAYS * 86_400_000),
      ),
  },
];

/** Invitations to join a tenant: create, list, revoke, accept. */
export const invitationsModule: AppModule = async (app, dependencies) => {
  await app.register(invitationsRoutes, {
    invitations: createInvitationsService(dependencies),
  });
};
