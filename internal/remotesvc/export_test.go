package remotesvc

// SignForTest is signForTest for the external tests (the Wine proofs).
var SignForTest = signForTest
