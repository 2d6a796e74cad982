export { createSealer, SealError, type Sealer } from "./seal.js";
