import type { AppModule } from "../../core/http/module.js";
import { usersRoutes } from "./users.routes.js";
import { createUsersService } from "./users.service.js";

export { userNameSchema, userSchema } from "./users.schemas.js";
export {
  createUsersService,
  toUserResponse,
  type UsersService,
  type UserTenant,
} from "./users.service.js";

/** Users: the signed-in user's own account (GET/PATCH /users/me). */
export const usersModule: AppModule = async (app, { database }) => {
  await app.register(usersRoutes, { users: createUsersService({ database }) });
};
