export { decryptSecret, deriveDataKey, encryptSecret } from './data-key.js';
