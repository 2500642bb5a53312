export { NodeSession, type HeartbeatRedirect, type HeartbeatReply, type ManagerAddress, type SessionDeps } from './session.js';
