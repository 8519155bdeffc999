/**
 * The daemon's control API and its clients. `startApi(node, repo)` serves a node on 127.0.0.1 (server.ts, its route
 * table in routes.ts); `openNodeClient({ repo, node })` gives a command one `NodeClient` (contract.ts): the daemon
 * running on the repository, else a node of its own.
 */
export type {
  FetchReport,
  NodeClient,
  NodeClientOptions,
  PeerReport,
  Progress,
  ProgressOptions,
  StatsReport,
  StatsRow,
  UpdateRequest,
  UrlReport
} from './contract.js'
export { openNodeClient } from './client.js'
export { startApi, refusal } from './server.js'
export { ROUTES, matchRoute, type Route, type RouteMatch } from './routes.js'
export { NDJSON, apiToken, daemonApi, apiRequest, callApi, callApiStream, type ApiStreamLine, type DaemonEndpoint } from './endpoint.js'
