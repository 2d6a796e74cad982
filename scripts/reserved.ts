/**
 * Command names the kit reserves for capabilities it does not ship yet, so that scripts,
 * the justfile and documentation keep one stable interface. Exits non-zero.
 */
const name = process.argv[2] ?? "this command";
console.error(`npm run ${name} is reserved and not available in this version of the kit.`);
process.exit(2);
