// Package layering holds no code: its test checks the module's import
// graph, so that the clients of the issuer (the load generator, the
// scenario parser, the thresholds and the report writer) keep speaking to
// it through the contract packages (issuer/portal/portalapi,
// issuer/signer/signerapi, issuer/finder/finderapi,
// issuer/lists/listsapi) and never link its implementation: the registry
// (SQLite), the PDF printout or the password hashing (argon2).
package layering
