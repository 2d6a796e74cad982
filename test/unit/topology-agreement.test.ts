import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import {
  type CaddyNode,
  directives,
  globalOptions,
  loopbackCaddyfile,
  parseCaddyfile,
  siteBlocks,
} from "../../scripts/lib/topology/caddyfile.js";
import {
  API_COMMAND,
  apiEnvironment,
  BALANCER_PROBE_PATH,
  DATABASE_NAME,
  generateSecrets,
  IMAGE_ENVIRONMENT,
  LIVENESS_PATH,
  MIGRATE_COMMAND,
  STOP_GRACE_MS,
  SYSTEM_LOGIN,
  sharedEnvironment,
  TENANT_LOGIN,
  WORKER_COMMAND,
  workerEnvironment,
} from "../../scripts/lib/topology/kit-env.js";
import { loadConfig } from "../../src/config.js";
import { parseYamlSubset, type YamlValue } from "../helpers/yaml-subset.js";

/**
 * npm run topology mirrors deploy/: these tests fail when the topology and the deploy files
 * (Caddyfile, docker-compose.prod.yml, the init script of the logins, the Dockerfile) say
 * different things about how the kit runs in production.
 */

const read = (path: string) =>
  readFileSync(fileURLToPath(new URL(`../../${path}`, import.meta.url)), "utf8");

const deployCaddyfile = read("deploy/Caddyfile");
const composeText = read("deploy/docker-compose.prod.yml");
const compose = parseYamlSubset(composeText) as {
  services: Record<string, Record<string, YamlValue>>;
};
const service = (name: string) => {
  const found = compose.services[name];
  if (!found) throw new Error(`deploy/docker-compose.prod.yml has no ${name} service`);
  return found;
};
const initScript = read("deploy/postgres-init/10-kit-logins.sh");

const ports = { pgbouncerPort: 6432, redisPort: 6379, smtpPort: 2525 };
const shared = sharedEnvironment({
  secrets: generateSecrets(),
  preparedStatements: false,
  ...ports,
});
const apiEnv = apiEnvironment(shared, 8000);
const workerEnv = workerEnvironment(shared);

/** What a compose service sets beyond .env.production, and what the topology sets beyond its. */
const own = (env: Record<string, string>) =>
  Object.fromEntries(
    Object.entries(env).filter(([key]) => !(key in shared) && !(key in IMAGE_ENVIRONMENT)),
  );

/** The variables the compose file's header says .env.production must hold. */
function requiredInEnvFile(): string[] {
  const header = composeText.slice(
    composeText.indexOf("# Required in .env.production:"),
    composeText.indexOf("# Optional:"),
  );
  return header
    .split("\n")
    .map((line) => /^# {3}([A-Z][A-Z0-9_]*(?:, [A-Z][A-Z0-9_]*)*)(?:\s|$)/.exec(line)?.[1])
    .filter((names): names is string => names !== undefined)
    .flatMap((names) => names.split(", "));
}

/** The URL the header documents for `variable`. */
function documentedUrl(variable: string): URL {
  const line = composeText.split("\n").find((text) => text.startsWith(`#   ${variable} `));
  const url = line && /postgres:\/\/\S+/.exec(line)?.[0];
  if (!url) throw new Error(`the compose file documents no URL for ${variable}`);
  return new URL(url.replace(/<[^>]*>/g, "secret"));
}

/** Every variable the kit reads, as .env.example lists them (set or commented out). */
const kitVariables = new Set(
  [...read(".env.example").matchAll(/^#? *([A-Z][A-Z0-9_]*)=/gm)].map((match) => match[1]),
);

const withoutBind = (site: CaddyNode) => ({
  ...site,
  children: (site.children ?? []).filter((node) => node.tokens[0] !== "bind"),
});

describe("the topology's Caddyfile and deploy/Caddyfile", () => {
  const upstreams = ["127.0.0.1:41001", "127.0.0.1:41002"];
  const generated = parseCaddyfile(
    loopbackCaddyfile(deployCaddyfile, { port: 41000, adminPort: 41003, upstreams }),
  );
  const deploy = parseCaddyfile(deployCaddyfile);
  const [deploySite] = siteBlocks(deploy);
  const [site] = siteBlocks(generated);

  it("serve one site with the same directives, the same proxy options and the same health check", () => {
    expect(siteBlocks(deploy)).toHaveLength(1);
    expect(siteBlocks(generated)).toHaveLength(1);
    const [proxy] = directives(site as CaddyNode, "reverse_proxy");
    const [deployProxy] = directives(deploySite as CaddyNode, "reverse_proxy");
    expect(proxy?.tokens).toEqual(["reverse_proxy", ...upstreams]);
    expect(proxy?.children).toEqual(deployProxy?.children);
    expect(withoutBind(site as CaddyNode).children).toEqual(
      (deploySite?.children ?? []).map((node) => (node === deployProxy ? proxy : node)),
    );
    // Caddy checks the balancer's probe, which the API serves.
    expect(directives(deployProxy as CaddyNode, "health_uri")[0]?.tokens).toEqual([
      "health_uri",
      BALANCER_PROBE_PATH,
    ]);
  });

  it("hide /metrics with a 404 in both", () => {
    for (const block of [deploySite, site] as CaddyNode[]) {
      expect(directives(block, "@metrics")[0]?.tokens).toEqual([
        "@metrics",
        "path",
        "/metrics",
        "/metrics/*",
      ]);
      expect(directives(block, "respond")[0]?.tokens).toEqual(["respond", "@metrics", "404"]);
    }
  });

  it("differ in the address only: plain HTTP on the loopback, no certificates, no fixed admin port", () => {
    expect(site?.tokens).toEqual(["http://127.0.0.1:41000"]);
    expect(directives(site as CaddyNode, "bind")[0]?.tokens).toEqual(["bind", "127.0.0.1"]);
    const options = globalOptions(generated);
    expect(options && directives(options, "auto_https")[0]?.tokens).toEqual(["auto_https", "off"]);
    expect(options && directives(options, "admin")[0]?.tokens).toEqual([
      "admin",
      "127.0.0.1:41003",
    ]);
  });
});

describe("the topology's processes and deploy/docker-compose.prod.yml", () => {
  it("give the api and the worker the same variables, from one shared set as .env.production", () => {
    expect(service("api").env_file).toEqual(["../.env.production"]);
    expect(service("worker").env_file).toEqual(service("api").env_file);
    const composeApi = service("api").environment as Record<string, string>;
    const composeWorker = service("worker").environment as Record<string, string>;
    expect(Object.keys(own(apiEnv)).sort()).toEqual(Object.keys(composeApi).sort());
    expect(own(workerEnv)).toEqual(composeWorker);
    // HOST and PORT differ by design: the loopback and a free port instead of a container's.
    expect(apiEnv.ENVIRONMENT).toBe(composeApi.ENVIRONMENT);
    expect(apiEnv.TRUST_PROXY).toBe(composeApi.TRUST_PROXY);
    expect(composeApi.HOST).toBe("0.0.0.0");
    expect(apiEnv.HOST).toBe("127.0.0.1");
  });

  it("set every variable .env.production must hold for the kit, and only variables the kit reads", () => {
    const required = requiredInEnvFile();
    expect(required).toEqual(expect.arrayContaining(["SECRET_KEY", "DATABASE_SYSTEM_URL"]));
    const forTheKit = required.filter((name) => kitVariables.has(name));
    // PgBouncer 1.18 is the topology's own: named statements are a choice there, and a
    // tenant's share of the pool is sized to PgBouncer's server connections.
    expect(Object.keys(shared).sort()).toEqual(
      [...forTheKit, "DATABASE_PREPARED_STATEMENTS", "DATABASE_TENANT_CONNECTIONS"].sort(),
    );
    for (const name of [...Object.keys(apiEnv), ...Object.keys(workerEnv)]) {
      if (!(name in IMAGE_ENVIRONMENT)) expect(kitVariables, name).toContain(name);
    }
  });

  it("form a complete production configuration", () => {
    for (const env of [apiEnv, workerEnv]) {
      const config = loadConfig(env);
      expect(config.environment).toBe("production");
      expect(config.shutdownDrainMs).toBeGreaterThan(0);
    }
    expect(loadConfig(apiEnv).trustProxy).toBe(true);
  });

  it("connect as the two non-superuser logins the init script makes; only migrations as the owner", () => {
    const tenant = documentedUrl("DATABASE_URL");
    const system = documentedUrl("DATABASE_SYSTEM_URL");
    expect([tenant.username, tenant.pathname]).toEqual([TENANT_LOGIN, `/${DATABASE_NAME}`]);
    expect([system.username, system.pathname]).toEqual([SYSTEM_LOGIN, `/${DATABASE_NAME}`]);
    expect(new URL(shared.DATABASE_URL as string).username).toBe(TENANT_LOGIN);
    expect(new URL(shared.DATABASE_SYSTEM_URL as string).username).toBe(SYSTEM_LOGIN);

    for (const [login, group] of [
      [TENANT_LOGIN, "app_tenant_login"],
      [SYSTEM_LOGIN, "app_system_login"],
    ]) {
      const attributes = new RegExp(`CREATE ROLE ${login} LOGIN ([A-Z ]+)`).exec(initScript)?.[1];
      expect(attributes?.split(" "), login).toEqual(
        expect.arrayContaining(["NOSUPERUSER", "NOBYPASSRLS", "NOCREATEROLE", "INHERIT"]),
      );
      expect(initScript).toContain(`GRANT ${group} TO ${login};`);
    }

    // Neither service overrides the database URLs of .env.production; the migrate tool does.
    for (const name of ["api", "worker"]) {
      const environment = service(name).environment as Record<string, string>;
      expect(Object.keys(environment)).not.toContain("DATABASE_URL");
      expect(Object.keys(environment)).not.toContain("DATABASE_SYSTEM_URL");
    }
    const migrate = service("migrate");
    expect((migrate.environment as Record<string, string>).DATABASE_URL).toMatch(
      /^\$\{DATABASE_OWNER_URL\b/,
    );
    expect(migrate.profiles).toEqual(["tools"]);
  });

  it("run the same commands, a worker by default, and probe the same health path", () => {
    const cmd = /^CMD (\[.*\])$/m.exec(read("deploy/Dockerfile"))?.[1];
    expect(JSON.parse(cmd as string)).toEqual(API_COMMAND);
    expect(service("worker").command).toEqual(WORKER_COMMAND);
    expect(service("worker").profiles).toBeUndefined();
    expect(service("migrate").command).toEqual(MIGRATE_COMMAND);

    const probe = (service("api").healthcheck as { test: string[] }).test.join(" ");
    const url = /https?:\/\/[^'"\s]+/.exec(probe)?.[0];
    expect(new URL(url as string).pathname).toBe(LIVENESS_PATH);

    for (const name of ["api", "worker"]) {
      expect(service(name).stop_grace_period).toBe(`${STOP_GRACE_MS / 1000}s`);
    }
  });
});
