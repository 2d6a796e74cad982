/**
 * deploy/observability/ and the operators' documents are held to the code: every metric an
 * alert rule or a dashboard panel queries, and every metric docs/operations.md and
 * docs/observability.md name, is one the kit exports (the API's /metrics: the HTTP metrics, the
 * process defaults and kit-metrics.ts, which a worker's /metrics serves too), so a renamed
 * metric fails here instead of silencing an alert or misleading whoever is on call.
 * Prometheus scrapes the ports the processes listen on.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import Fastify from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.js";
import { responseSerializerCompiler } from "../../src/core/http/response-serializer.js";
import { validatorCompiler } from "../../src/core/http/validation.js";
import { metricsPlugin } from "../../src/core/observability/metrics.js";
import { parseYamlSubset, type YamlValue } from "../helpers/yaml-subset.js";

const read = (path: string) =>
  readFileSync(fileURLToPath(new URL(`../../${path}`, import.meta.url)), "utf8");

type Mapping = Record<string, YamlValue>;
const asMapping = (value: YamlValue | undefined): Mapping => {
  if (!value || typeof value !== "object" || Array.isArray(value)) {
    throw new Error(`not a mapping: ${JSON.stringify(value)}`);
  }
  return value;
};
const asList = (value: YamlValue | undefined): YamlValue[] => {
  if (!Array.isArray(value)) throw new Error(`not a list: ${JSON.stringify(value)}`);
  return value;
};

/** Series Prometheus makes itself for every target. */
const PROMETHEUS_SERIES = new Set(["up", "scrape_duration_seconds", "scrape_samples_scraped"]);
const PROMQL_WORDS = new Set(["and", "or", "unless", "bool", "offset", "inf", "nan"]);

/** The metric names a PromQL expression reads. */
function metricNamesIn(expression: string): string[] {
  const bare = expression
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, "")
    .replace(/\[[^\]]*\]/g, "")
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, "")
    .replace(/\$\w+/g, "");
  const names = [...bare.matchAll(/\b[a-zA-Z_][\w]*\b(?!\s*\()/g)].map((match) => match[0]);
  return names.filter((name) => !PROMQL_WORDS.has(name.toLowerCase()));
}

/** Every `expr` anywhere in a Grafana dashboard. */
function dashboardExpressions(node: unknown): string[] {
  if (Array.isArray(node)) return node.flatMap(dashboardExpressions);
  if (!node || typeof node !== "object") return [];
  return Object.entries(node).flatMap(([key, value]) =>
    key === "expr" && typeof value === "string" ? [value] : dashboardExpressions(value),
  );
}

/** The families of metric names the kit exports: how a document's code span is told apart. */
const METRIC_NAME =
  /^(?:http|db|job|outbox|rate_limit|auth|readiness|nodejs|process)_[a-z0-9_]*\*?$/;
/** Code spans of those families in the documents that are not metrics: a table's name. */
const NOT_METRICS = new Set(["job_outbox"]);

/**
 * The metric names a Markdown document mentions: in its inline code spans (a name, a name with
 * label matchers, or a PromQL expression) and its fenced promql blocks. `process_*` stands for
 * a family, and is returned as it is.
 */
function documentedMetricNames(markdown: string): string[] {
  const blocks = [...markdown.matchAll(/```promql\n([\s\S]*?)```/g)].map((match) =>
    (match[1] as string)
      .split("\n")
      .filter((line) => !line.trimStart().startsWith("#"))
      .join("\n"),
  );
  const withoutBlocks = markdown.replace(/```[\s\S]*?```/g, "");
  const spans = [...withoutBlocks.matchAll(/`([^`\n]+)`/g)].map((match) => match[1] as string);
  const names = [
    ...spans.filter((span) => /^[a-z_]+\*$/.test(span)),
    ...[...spans.filter((span) => !/^[a-z_]+\*$/.test(span)), ...blocks].flatMap(metricNamesIn),
  ];
  return [...new Set(names)].filter((name) => METRIC_NAME.test(name) && !NOT_METRICS.has(name));
}

const rules = asList(asMapping(parseYamlSubset(read("deploy/observability/alerts.yml"))).groups)
  .flatMap((group) => asList(asMapping(group).rules))
  .map(asMapping);
const dashboard: unknown = JSON.parse(
  read("deploy/observability/grafana/dashboards/agency-saas-kit.json"),
);

const app = Fastify();
let exported: Set<string>;
beforeAll(async () => {
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(responseSerializerCompiler);
  await app.register(metricsPlugin, { token: undefined });
  const response = await app.inject({ url: "/metrics" });
  expect(response.statusCode).toBe(200);
  exported = new Set();
  for (const [, name, type] of response.body.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    exported.add(name as string);
    if (type === "histogram") {
      for (const suffix of ["_bucket", "_sum", "_count"]) exported.add(`${name}${suffix}`);
    }
  }
});
afterAll(() => app.close());

describe("the alert rules and the dashboard", () => {
  it("query only metrics the kit exports", () => {
    const expressions = [
      ...rules.map((rule) => String(rule.expr)),
      ...dashboardExpressions(dashboard),
    ];
    expect(expressions.length).toBeGreaterThan(40);
    const unknown = expressions.flatMap((expression) =>
      metricNamesIn(expression)
        .filter((name) => !exported.has(name) && !PROMETHEUS_SERIES.has(name))
        .map((name) => `${name} in ${expression}`),
    );
    expect(unknown).toEqual([]);
  });

  it("cover what an operator is paged for", () => {
    const used = new Set(
      [...rules.map((rule) => String(rule.expr))].flatMap((expression) =>
        metricNamesIn(expression),
      ),
    );
    for (const name of [
      "http_request_duration_seconds_count",
      "http_request_duration_seconds_bucket",
      "outbox_oldest_pending_age_seconds",
      "job_queue_oldest_waiting_age_seconds",
      "db_pool_connections",
      "readiness_check_up",
    ]) {
      expect(used, name).toContain(name);
    }
    for (const rule of rules) {
      expect(asMapping(rule.labels).severity, String(rule.alert)).toMatch(/^(page|warn)$/);
      expect(asMapping(rule.annotations).summary, String(rule.alert)).toBeTruthy();
    }
  });

  it("are read with names the check itself finds", () => {
    expect(
      metricNamesIn(
        'sum by (le) (rate(http_request_duration_seconds_bucket{route!~"/health/.*"}[5m])) / on(instance) up',
      ),
    ).toEqual(["http_request_duration_seconds_bucket", "up"]);
    expect(metricNamesIn("time() - max(no_such_metric) > 120")).toEqual(["no_such_metric"]);
  });
});

describe("the operators' documents", () => {
  const known = (name: string) =>
    name.endsWith("*")
      ? [...exported].some((each) => each.startsWith(name.slice(0, -1)))
      : exported.has(name) || PROMETHEUS_SERIES.has(name);

  for (const document of ["docs/operations.md", "docs/observability.md"]) {
    it(`${document} names only metrics the kit exports`, () => {
      const names = documentedMetricNames(read(document));
      expect(names.length, document).toBeGreaterThan(15);
      expect(names.filter((name) => !known(name))).toEqual([]);
    });
  }

  it("docs/operations.md names every metric an alert or a panel reads", () => {
    const documented = new Set(documentedMetricNames(read("docs/operations.md")));
    const queried = [...rules.map((rule) => String(rule.expr)), ...dashboardExpressions(dashboard)]
      .flatMap(metricNamesIn)
      .filter((name) => !PROMETHEUS_SERIES.has(name))
      // A histogram is documented by its own name or by the series a query reads.
      .map((name) => name.replace(/_(?:bucket|sum|count)$/, ""));
    const missing = [...new Set(queried)].filter(
      (name) =>
        !documented.has(name) &&
        !["_bucket", "_sum", "_count"].some((suffix) => documented.has(`${name}${suffix}`)),
    );
    expect(missing).toEqual([]);
  });

  it("are read with names the check itself finds", () => {
    expect(
      documentedMetricNames(
        [
          '`db_pool_connections{state="in_use"}` and `job_outbox`, `process_*`, `GET /x`,',
          "```promql",
          "# no_such_comment_metric",
          "time() - max(outbox_no_such_metric)",
          "```",
        ].join("\n"),
      ).sort(),
    ).toEqual(["db_pool_connections", "outbox_no_such_metric", "process_*"]);
  });
});

describe("Prometheus's scrape configuration", () => {
  const prometheus = asMapping(parseYamlSubset(read("deploy/observability/prometheus.yml")));
  const overlay = asMapping(parseYamlSubset(read("deploy/observability/docker-compose.yml")));
  const jobs = new Map(
    asList(prometheus.scrape_configs)
      .map(asMapping)
      .map((job) => [String(job.job_name), job] as const),
  );
  const portOf = (job: string) =>
    asMapping(asList(asMapping(jobs.get(job)).dns_sd_configs)[0]).port;

  it("scrapes the API on its port and the worker on the port the overlay gives it", () => {
    expect(portOf("agency-saas-kit-api")).toBe(String(loadConfig({}).port));
    const worker = asMapping(asMapping(asMapping(overlay.services).worker).environment);
    expect(portOf("agency-saas-kit-worker")).toBe(worker.WORKER_METRICS_PORT);
    expect(
      loadConfig({ WORKER_METRICS_PORT: String(worker.WORKER_METRICS_PORT) }).workerMetricsPort,
    ).toBe(9464);
  });

  it("loads the alert rules the overlay mounts, with the token the overlay provides", () => {
    const service = asMapping(asMapping(overlay.services).prometheus);
    expect(asList(service.volumes)).toContain("./alerts.yml:/etc/prometheus/alerts.yml:ro");
    expect(asList(prometheus.rule_files)).toEqual(["/etc/prometheus/alerts.yml"]);
    const tokenTarget = asMapping(asList(service.configs)[0]).target;
    for (const job of jobs.values()) {
      expect(asMapping(job.authorization).credentials_file).toBe(tokenTarget);
    }
  });
});
