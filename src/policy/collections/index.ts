/**
 * Collections: governance files, signed announcements, and the rules that admit, record and expire them.
 */
export { PURPOSES, DEFAULT_PRIORITIES, MAX_ANNOUNCEMENT_BYTES, MAX_CLOCK_SKEW_MS } from './constants.js'
export {
  parseGovernance,
  governanceBytes,
  collectionTopic,
  mayPublish,
  mayModerate,
  retentionMs,
  type Governance,
  type Quotas,
  type Purpose
} from './governance.js'
export {
  signAnnouncement,
  openAnnouncement,
  encodeUnsigned,
  checkAnnouncementId,
  hashOf,
  type Announcement,
  type OpenedAnnouncement,
  type Resource,
  type RetractTarget
} from './announcement.js'
export { admit, record, expire, liveShares, headKey, type CollectionState } from './collection-rules.js'
