import { z } from "zod";

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

export const userNameSchema = z
  .string()
  .trim()
  .min(1, "must not be empty")
  .max(200, "must be at most 200 characters");

export const updateMeBody = z.strictObject({ name: userNameSchema.optional() });
