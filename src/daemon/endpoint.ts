/**
 * Where a running daemon's control API is, and how a client talks to it: the repository's `api` and `api-token`
 * files, plain JSON calls, and calls whose answer streams progress as NDJSON lines before its result.
 */
import { randomBytes } from 'node:crypto'
import { chmod, readFile, stat, writeFile } from 'node:fs/promises'
import { repoPath } from '../repo/index.js'
import { ApiAuthError, CmeshError } from '../errors.js'

/** Media type of a streamed answer: one JSON object a line (see ApiStreamLine). */
export const NDJSON = 'application/x-ndjson'

/** A running daemon's control API: where it listens, and the token its requests carry. */
export interface DaemonEndpoint {
  url: string
  token: string
}

/**
 * A line of a streamed answer (a request with `Accept: application/x-ndjson`): any number of progress lines, then
 * one result or one error. An error carries the code and message a plain answer's `{ error, code }` would.
 */
export type ApiStreamLine =
  | { type: 'progress', done: number, total?: number }
  | { type: 'result', result: unknown }
  | { type: 'error', error: string, code: string }

/** The repository's API token: read, or made (32 random bytes) on first use; the file is kept at mode 0600. */
export async function apiToken (repo: string): Promise<string> {
  const file = repoPath(repo, 'apiToken')
  try {
    const token = (await readFile(file, 'utf8')).trim()
    if ((await stat(file)).mode & 0o077) await chmod(file, 0o600)
    if (/^[A-Za-z0-9_-]{32,}$/.test(token)) return token
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
  const token = randomBytes(32).toString('base64url')
  await writeFile(file, token + '\n', { mode: 0o600 })
  await chmod(file, 0o600) // the mode of writeFile applies only to a file it creates
  return token
}

/** The running daemon's API for a repository, if one answers. */
export async function daemonApi (repo: string): Promise<DaemonEndpoint | undefined> {
  let url: string
  let token: string
  try {
    url = (await readFile(repoPath(repo, 'api'), 'utf8')).trim()
    token = (await readFile(repoPath(repo, 'apiToken'), 'utf8')).trim()
  } catch {
    return undefined
  }
  const api = { url, token }
  try {
    // the cheap endpoint: /peers would ping every peer just to learn that the daemon is there
    const res = await apiRequest(api, 'GET', '/api/v0/id', undefined, AbortSignal.timeout(2000))
    await res.arrayBuffer()
    if (res.status === 403) throw new ApiAuthError(`the daemon of ${repo} refused this repository's token`)
    return res.ok ? api : undefined
  } catch (err) {
    if (err instanceof CmeshError) throw err
    return undefined // a daemon that was killed left its file behind
  }
}

/** A request to the daemon's API, with its token (and any other headers). */
export async function apiRequest (
  api: DaemonEndpoint,
  method: 'GET' | 'POST',
  path: string,
  payload?: Uint8Array,
  signal?: AbortSignal,
  headers: Record<string,
  string> = {}
): Promise<Response> {
  return await fetch(`${api.url}${path}`, { method, body: payload, signal, headers: { ...headers, authorization: `Bearer ${api.token}` } })
}

/** An answer that is not 2xx as the CmeshError it carries (`{ error, code }`). */
export async function apiError (res: Response): Promise<CmeshError> {
  let body: { error?: string, code?: string } = {}
  try {
    body = await res.json() as typeof body
  } catch {}
  return new CmeshError(body.code ?? 'ERR_DAEMON', body.error ?? `daemon answered ${res.status}`)
}

/** Call the daemon; its errors come back as CmeshErrors with their codes. */
export async function callApi (api: DaemonEndpoint, method: 'GET' | 'POST', path: string, payload?: Uint8Array): Promise<unknown> {
  const res = await apiRequest(api, method, path, payload)
  if (!res.ok) throw await apiError(res)
  return await res.json()
}

/**
 * Call a long operation of the daemon with its progress streamed: `onProgress` gets each progress line as it comes,
 * and the result line is returned; an error line, or an error answer before the stream began, is thrown as the
 * CmeshError it names. A stream that ends with neither fails with ERR_DAEMON.
 */
export async function callApiStream (
  api: DaemonEndpoint,
  path: string,
  payload: Uint8Array | undefined,
  onProgress: (p: { done: number, total?: number }) => void
): Promise<unknown> {
  const res = await apiRequest(api, 'POST', path, payload, undefined, { accept: NDJSON })
  if (!res.ok) throw await apiError(res)
  if (res.headers.get('content-type') !== NDJSON) return await res.json() // a daemon from before streaming
  for await (const line of ndjsonLines(res.body as unknown as AsyncIterable<Uint8Array>)) {
    if (line.type === 'progress') onProgress({ done: line.done, total: line.total })
    else if (line.type === 'result') return line.result
    else if (line.type === 'error') throw new CmeshError(line.code, line.error)
  }
  throw new CmeshError('ERR_DAEMON', `the daemon ended ${path} without a result`)
}

/** The JSON lines of a byte stream. */
async function * ndjsonLines (body: AsyncIterable<Uint8Array>): AsyncGenerator<ApiStreamLine> {
  const decoder = new TextDecoder()
  let buffered = ''
  for await (const chunk of body) {
    buffered += decoder.decode(chunk, { stream: true })
    let nl: number
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl).trim()
      buffered = buffered.slice(nl + 1)
      if (line !== '') yield JSON.parse(line) as ApiStreamLine
    }
  }
  buffered += decoder.decode()
  if (buffered.trim() !== '') yield JSON.parse(buffered) as ApiStreamLine
}
