/** The Slurm executor (`pipeline run --executor slurm`) and what `pipeline status` reads of it. */
export { SlurmExecutor, type SlurmExecutorOptions } from './slurm-executor.js';
export { runSlurmCommand, parseSbatchId, type SlurmRunner, type SlurmError, type SlurmCommandOptions } from './commands.js';
export { buildSbatch, mergeSettings, shellQuote, timeLimitMinutes, jobName, STORE_INVISIBLE_EXIT, type SbatchRequest, type StoreProbe } from './script.js';
export { parseQueue, parseElapsed, parseScontrol, parseSacct, verdictOf, isTerminal, isActive, type QueueRow, type JobDetails, type TerminalVerdict } from './states.js';
export { JobPoller, type PollerOptions, type JobSighting } from './poller.js';
export { listRecords, readRecord, slurmPaths, type JobRecord, type SlurmPaths } from './records.js';
export { LogFollower, readTail } from './log-follow.js';
export { liveSlurmJobs, type LiveSlurmJob } from './live-jobs.js';
