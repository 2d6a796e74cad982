import { z } from "zod";
import { displayName } from "../../core/http/text.js";

export const userSchema = z
  .object({
    id: z.uuid(),
    email: z.string(),
    name: z.string(),
    emailVerified: z.boolean(),
    createdAt: z.iso.datetime(),
  })
  .meta({ id: "User" });

export type UserResponse = z.infer<typeof userSchema>;

/** A person's name as others see it (see displayName for what it may hold). */
export const userNameSchema = displayName({ max: 200 });

export const updateMeBody = z.strictObject({ name: userNameSchema.optional() });
