/**
 * Collections: governance files, signed announcements, and the rules that admit, record and expire them.
 */
export { parseGovernance, governanceBytes, collectionTopic, mayPublish, mayModerate, retentionMs, PURPOSES, DEFAULT_PRIORITIES, type Governance, type Quotas, type Purpose } from './governance.js'
export { signAnnouncement, openAnnouncement, encodeUnsigned, checkAnnouncementId, hashOf, MAX_ANNOUNCEMENT_BYTES, type Announcement, type OpenedAnnouncement, type Resource, type RetractTarget } from './announcement.js'
export { admit, record, expire, liveShares, headKey, MAX_CLOCK_SKEW_MS, type CollectionState } from './collection-rules.js'
