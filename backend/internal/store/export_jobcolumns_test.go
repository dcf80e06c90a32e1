package store

// QJobsInsert is the statement that inserts a batch's jobs.
var QJobsInsert = qJobsInsert
