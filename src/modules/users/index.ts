import type { AppModule } from "../../core/http/module.js";
import { usersRoutes } from "./users.routes.js";

export {
  membershipsSystemRepository,
  type UserTenant,
  usersSystemRepository,
} from "./users.repository.js";
export { type UserResponse, userNameSchema, userSchema } from "./users.schemas.js";
export { toUserResponse } from "./users.service.js";

/** Users: the signed-in user's own account (GET/PATCH /users/me). */
export const usersModule: AppModule = async (app, { database }) => {
  await app.register(usersRoutes, { database });
};
