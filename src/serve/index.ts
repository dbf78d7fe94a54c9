// Serving a trained model: the HTTP service around the segmenter (runner/segmenter.ts, the one
// inference path), re-exported here with it.
export { Segmenter, SegmentError, createSegmenter, type ClassStat, type Segmentation, type SegmenterInfo, type SegmenterOptions } from '../infer/segmenter.js';
export { startServer, type SegmentServer, type ServeOptions } from './server.js';
export { ServeMetrics } from './metrics.js';
