/** The control API's former single module: its names, for the importers that still use this path (see index.ts). */
export { startApi, refusal } from './server.js'
export { API_FILENAME, API_TOKEN_FILENAME, apiToken, daemonApi, apiRequest, callApi, type DaemonEndpoint } from './endpoint.js'
