import type { ExpiredRowsCleanup } from "../../core/jobs/index.js";
import { oneTimeTokensRepository } from "./one-time-tokens.repository.js";
import { sessionsRepository } from "./sessions.repository.js";

/** Ended sessions and used tokens are kept this long (for investigating incidents). */
const ENDED_RETENTION_DAYS = 7;
const cutoff = (now: Date) => new Date(now.getTime() - ENDED_RETENTION_DAYS * 86_400_000);

/** What the daily cleanup deletes for this module. */
export const authCleanups: readonly ExpiredRowsCleanup[] = [
  {
    name: "ended sessions",
    run: (db, now) => sessionsRepository.deleteEndedBefore(db, cutoff(now)),
  },
  {
    name: "expired refresh tokens",
    run: (db, now) => sessionsRepository.deleteRefreshTokensExpiredBefore(db, now),
  },
  {
    name: "expired one-time tokens",
    run: (db, now) => oneTimeTokensRepository.deleteEndedBefore(db, cutoff(now)),
  },
];
