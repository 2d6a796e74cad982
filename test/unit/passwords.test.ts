import { hash } from "@node-rs/argon2";
import { describe, expect, it } from "vitest";
import {
  ARGON2_PARAMETERS,
  hashPassword,
  newPassword,
  passwordWeakness,
  verifyPassword,
} from "../../src/modules/auth/passwords.js";

/** The password policy and hashing: pure functions over zxcvbn and argon2. */

const ada = { email: "ada@example.com", name: "Ada Lovelace", organisation: "Analytical Engines" };

describe("passwordWeakness", () => {
  it.each([
    ["111111111111", /Repeated characters/],
    ["abcabcabcabc", /Repeated patterns/],
    ["P@ssw0rd1234", /similar to a commonly used password/],
    ["letmeinletmein", /Repeated patterns/],
    ["qwerty123456", /commonly used password/],
    ["LeaveMeAlone", /commonly used password/],
  ])("refuses %s and says why", async (password, why) => {
    expect(await passwordWeakness(password, ada)).toMatch(why);
  });

  it("counts the owner's email, name and organisation as words an attacker tries", async () => {
    for (const password of ["ada lovelace 1815", "analytical engines!", "ada@example.com1"]) {
      expect(await passwordWeakness(password, ada), password).toMatch(/name, email address/);
    }
    // The same passwords are fine for someone else.
    const grace = { email: "grace@example.org", name: "Grace Hopper" };
    expect(await passwordWeakness("analytical engines!", grace)).toBeUndefined();
  });

  it.each([
    "correct horse battery staple",
    "an entirely new passphrase",
    "demo password 1234",
    "zQ9#vL2!pR7wK",
  ])("accepts %s", async (password) => {
    expect(await passwordWeakness(password, ada)).toBeUndefined();
  });

  it("rates composed and decomposed accents alike", async () => {
    const composed = "crème brûlée à la française";
    const decomposed = composed.normalize("NFD");
    expect(await passwordWeakness(decomposed, ada)).toBe(await passwordWeakness(composed, ada));
  });
});

describe("newPassword", () => {
  it("counts code points of the normal form: 12 to 128", () => {
    expect(newPassword.safeParse("ééééééééééé").success).toBe(false);
    // Twelve characters, 24 UTF-16 units decomposed.
    expect(newPassword.safeParse("éééééééééééé".normalize("NFD")).success).toBe(true);
    expect(newPassword.safeParse("😀".repeat(128)).success).toBe(true);
    expect(newPassword.safeParse("😀".repeat(129)).success).toBe(false);
  });
});

describe("hashing", () => {
  const composed = "crème brûlée à la française";
  const decomposed = composed.normalize("NFD");

  it("hashes the normal form: a passphrase typed either way verifies", async () => {
    const stored = await hashPassword(decomposed);
    expect(await verifyPassword(stored, composed)).toEqual({ matches: true, rehash: false });
    expect(await verifyPassword(stored, decomposed)).toEqual({ matches: true, rehash: false });
    expect((await verifyPassword(stored, "crème brûlée à la francaise")).matches).toBe(false);
  });

  it("still verifies a hash of the form as typed, made before normalising, and asks for a rehash", async () => {
    const legacy = await hash(decomposed, ARGON2_PARAMETERS);
    expect(await verifyPassword(legacy, decomposed)).toEqual({ matches: true, rehash: true });
    // The other form was never the password of that hash.
    expect((await verifyPassword(legacy, composed)).matches).toBe(false);
  });

  it("asks for a rehash of a hash made with other parameters", async () => {
    const weak = await hash(composed, { ...ARGON2_PARAMETERS, memoryCost: 4096, timeCost: 1 });
    expect(await verifyPassword(weak, composed)).toEqual({ matches: true, rehash: true });
  });

  it("never matches without a stored hash, or with a malformed one", async () => {
    expect(await verifyPassword(null, composed)).toEqual({ matches: false, rehash: false });
    expect(await verifyPassword("not a hash", composed)).toEqual({
      matches: false,
      rehash: false,
    });
  });
});
