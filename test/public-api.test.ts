import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import * as errors from '../src/errors.js'
import * as api from '../src/index.js'

describe('the public surface (src/index.ts)', () => {
  it('exports the factories, import and export, CAR, verification and every error class', () => {
    for (const name of [
      'createStore',
      'createNode',
      'importPath',
      'importBytes',
      'importStream',
      'cat',
      'ls',
      'stat',
      'exportTo',
      'importCar',
      'exportCar',
      'carStream',
      'verifyStore',
      'parseCid',
      'CID',
      'startProxy',
      'startGateway',
      'generatePublisherKey',
      'loadPublisherKey',
      'renderReport'
    ]) {
      assert.ok(name in api, name)
    }
    for (const name of Object.keys(errors)) assert.ok(name in api, `error ${name}`)
  })

  it('keeps wire codecs and test harnesses out', () => {
    for (const name of [
      'encodeMessage',
      'decodeMessage',
      'encodeFrame',
      'readFrames',
      'startNeighbourhood',
      'encodeReport',
      'decodeReport',
      'signMessage',
      'openMessage',
      'BlockService',
      'UrlCommunity',
      'discreteLaplace'
    ]) {
      assert.ok(!(name in api), name)
    }
  })
})
