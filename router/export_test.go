package router

// TwoKeys is twoKeys, for the package's outside tests.
var TwoKeys = twoKeys
