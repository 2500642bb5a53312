// The embedded DNS every container uses: swarm names from the endpoint table, the rest upstream.
export { answer, type DnsQuestion, type DnsAnswer } from './answer.js';
export { DnsServer, parseUpstream, type DnsServerOptions } from './server.js';
export { upstreamsFromResolvConf } from './resolv-conf.js';
