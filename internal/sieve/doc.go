// Package sieve implements the Sieve mail filtering language (RFC 5228)
// with the extensions mail clients use: fileinto, envelope, copy (RFC
// 3894), body (RFC 5173), relational (RFC 5231), subaddress (RFC 5233),
// vacation (RFC 5230) with vacation-seconds (RFC 6131), variables (RFC
// 5229), imap4flags (RFC 5232), date and index (RFC 5260), reject and
// ereject (RFC 5429), editheader (RFC 5293), mailbox (RFC 5490), include
// (RFC 6609), duplicate (RFC 7352), enotify with mailto (RFC 5435, RFC
// 5436) and encoded-character (RFC 5228 section 2.4.2.4); comparators
// i;octet, i;ascii-casemap and i;ascii-numeric (RFC 4790).
//
// No Go Sieve library was available to build on, so this one is Casella's
// own; Dovecot's Pigeonhole is the reference for behaviour the RFCs leave
// open.
//
// Implementation notes:
//
//   - Compile parses and checks a script once, when it is stored; a
//     *Script is immutable and safe to run concurrently.
//   - Run is pure: it reads the message, the envelope and the environment
//     given in Input and returns the actions to take (Result). It files,
//     sends and records nothing itself, so the delivery can make the
//     outcome part of its idempotent transaction.
//   - A run-time failure (a limit, an incompatible action, a bad value) is
//     never a lost message: Run returns the error with the implicit keep
//     (RFC 5228 section 2.10.6) as the only action.
//   - Every run is bounded by Limits: steps (commands, tests and compared
//     bytes), actions, redirects, header edits and include depth.
//     :matches runs in O(len(pattern) * len(value)), never exponential.
package sieve
