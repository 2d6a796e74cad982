import type { Config } from "../../config.js";
import { AppError } from "../../core/errors/index.js";

const isControlOrBackslash = (character: string) => {
  const code = character.charCodeAt(0);
  return code < 0x20 || code === 0x7f || character === "\\";
};

/**
 * Where a sign-in may send the browser afterwards: a path on the front end (`/projects`), or
 * an absolute URL on the front end's origin or a CORS origin. Anything else would make the
 * kit an open redirector, and is refused with 422.
 */
export function createRedirectCheck(config: Config) {
  const frontend = new URL(config.frontendUrl);
  const origins = new Set([
    frontend.origin,
    ...config.corsOrigins.filter((origin) => origin !== "*"),
  ]);
  const refuse = () =>
    new AppError("validation-failed", "redirectTo is not an allowed front-end address.", {
      errors: [
        {
          field: "redirectTo",
          message: "must be a path on the front end or a URL on an allowed origin",
        },
      ],
    });
  return (redirectTo: string | undefined): string => {
    if (redirectTo === undefined || redirectTo === "") return config.frontendUrl;
    // Control characters and backslashes are how browsers are talked into another host.
    if ([...redirectTo].some(isControlOrBackslash)) throw refuse();
    if (redirectTo.startsWith("/")) {
      if (redirectTo.startsWith("//")) throw refuse();
      const url = new URL(`${config.frontendUrl}${redirectTo}`);
      if (url.origin !== frontend.origin) throw refuse();
      return url.href;
    }
    let url: URL;
    try {
      url = new URL(redirectTo);
    } catch {
      throw refuse();
    }
    if (!origins.has(url.origin)) throw refuse();
    return url.href;
  };
}
