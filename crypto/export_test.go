package crypto

// VerifyMessage and VerifyMessages expose the verifier without the
// domain prefix, for the published test vectors (they sign raw messages).
var (
	VerifyMessage  = verifyMessage
	VerifyMessages = verifyMessages
)
