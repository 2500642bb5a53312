export { ImageBuilder, type BuildOptions } from './builder.js';
export { parseDockerfile, expandVariables, DockerfileError, type Instruction, type HealthcheckSpec } from './dockerfile.js';
