// Serving a trained model: the segmenter (library call) and the HTTP service around it.
export { Segmenter, SegmentError, createSegmenter, type ClassStat, type Segmentation, type SegmenterInfo, type SegmenterOptions } from './segmenter.js';
export { startServer, type SegmentServer, type ServeOptions } from './server.js';
export { ServeMetrics } from './metrics.js';
