package store

// QJobsInsert is the statement that inserts a batch's jobs.
var QJobsInsert = qJobsInsert

// CopyJobsFrom is the size of a batch whose jobs COPY writes.
const CopyJobsFrom = copyJobsFrom
