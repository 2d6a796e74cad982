export { createSealer, SealError } from "./seal.js";
