/**
 * Looks after the job queue from the command line.
 *   npm run jobs -- counts              jobs per state
 *   npm run jobs -- failed [limit]      the latest failed jobs with their errors
 *   npm run jobs -- retry-failed        re-queue every failed job (attempts start again)
 */
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import { loadProcessConfig } from "../src/config.js";
import { QUEUE_NAME, queuePrefix } from "../src/core/jobs/index.js";
import { retryFailedJobs } from "../src/core/jobs/worker.js";

const config = loadProcessConfig({ LOG_LEVEL: "warn" });
if (!config.redisUrl) {
  console.error("REDIS_URL is not set: without Redis, jobs live inside the API process.");
  process.exit(2);
}
const [command = "counts", argument] = process.argv.slice(2);
const connection = new Redis(config.redisUrl, { maxRetriesPerRequest: 1 });
const queue = new Queue(QUEUE_NAME, { connection, prefix: queuePrefix(config.redisKeyPrefix) });
try {
  switch (command) {
    case "counts":
      console.log(await queue.getJobCounts());
      break;
    case "failed": {
      const jobs = await queue.getFailed(0, Number(argument ?? 20) - 1);
      for (const job of jobs) {
        console.log(`${job.id}\t${job.name}\tattempts=${job.attemptsMade}\t${job.failedReason}`);
      }
      break;
    }
    case "retry-failed":
      console.log(`re-queued ${await retryFailedJobs(queue)} failed job(s)`);
      break;
    default:
      console.error(`unknown command ${command}; use counts, failed or retry-failed`);
      process.exitCode = 2;
  }
} finally {
  await queue.close();
  await connection.quit();
}
