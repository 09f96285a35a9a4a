package bus

// StartTestLeases is startTestLeases, for the package's outside tests.
var StartTestLeases = startTestLeases
