package spec

// kindLists: verifier apps refreshing the trust list and the revocation
// list (full once, then deltas since the version they hold, always with
// If-None-Match) and checking each list's signature with the pinned key.
const kindLists = "verifier-lists"
