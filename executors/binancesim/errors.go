package binancesim

import (
	"fmt"
	"net/http"
	"time"
)

// apiError is Binance's error body with the HTTP status it is sent with.
type apiError struct {
	status  int
	retryAt time.Time // of a 429: when the exceeded window resets
	Code    int       `json:"code"`
	Msg     string    `json:"msg"`
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %d %s", e.status, e.Code, e.Msg) }

func newErr(status, code int, format string, args ...any) *apiError {
	msg := format
	if len(args) > 0 {
		msg = fmt.Sprintf(format, args...)
	}
	return &apiError{status: status, Code: code, Msg: msg}
}

// Binance's error codes and messages (errors.md).
func errUnknown() *apiError {
	return newErr(http.StatusInternalServerError, -1000, "An unknown error occurred while processing the request.")
}

func errInternal() *apiError {
	return newErr(http.StatusServiceUnavailable, -1001, "Internal error; unable to process your request. Please try again.")
}

func errTimestampWindow() *apiError {
	return newErr(http.StatusBadRequest, -1021, "Timestamp for this request is outside of the recvWindow.")
}

func errTimestampAhead() *apiError {
	return newErr(http.StatusBadRequest, -1021, "Timestamp for this request was 1000ms ahead of the server's time.")
}

func errSignature() *apiError {
	return newErr(http.StatusBadRequest, -1022, "Signature for this request is not valid.")
}

func errIllegal(param, legal string) *apiError {
	return newErr(http.StatusBadRequest, -1100, "Illegal characters found in parameter '%s'; legal range is '%s'.", param, legal)
}

func errDuplicateParam() *apiError {
	return newErr(http.StatusBadRequest, -1101, "Duplicate values for a parameter detected.")
}

func errMandatory(param string) *apiError {
	return newErr(http.StatusBadRequest, -1102, "Mandatory parameter '%s' was not sent, was empty/null, or malformed.", param)
}

func errEitherParam(a, b string) *apiError {
	return newErr(http.StatusBadRequest, -1102, "Param '%s' or '%s' must be sent, but both were empty/null!", a, b)
}

func errNotRequired(param string) *apiError {
	return newErr(http.StatusBadRequest, -1106, "Parameter '%s' sent when not required.", param)
}

func errPrecision(param string) *apiError {
	return newErr(http.StatusBadRequest, -1111, "Parameter '%s' has too much precision.", param)
}

func errBadTIF() *apiError { return newErr(http.StatusBadRequest, -1115, "Invalid timeInForce.") }

func errBadType() *apiError { return newErr(http.StatusBadRequest, -1116, "Invalid orderType.") }

func errBadSide() *apiError { return newErr(http.StatusBadRequest, -1117, "Invalid side.") }

func errBadSymbol() *apiError { return newErr(http.StatusBadRequest, -1121, "Invalid symbol.") }

func errListenKey() *apiError {
	return newErr(http.StatusBadRequest, -1125, "This listenKey does not exist.")
}

func errRecvWindow() *apiError {
	return newErr(http.StatusBadRequest, -1131, "recvWindow must be less than 60000")
}

func errFilter(filter string) *apiError {
	return newErr(http.StatusBadRequest, -1013, "Filter failure: %s", filter)
}

func errNewOrderRejected(msg string) *apiError {
	return newErr(http.StatusBadRequest, -2010, "%s", msg)
}

func errCancelRejected(msg string) *apiError {
	return newErr(http.StatusBadRequest, -2011, "%s", msg)
}

func errNoSuchOrder() *apiError { return newErr(http.StatusBadRequest, -2013, "Order does not exist.") }

func errKeyFormat() *apiError {
	return newErr(http.StatusUnauthorized, -2014, "API-key format invalid.")
}

func errRejectedKey() *apiError {
	return newErr(http.StatusUnauthorized, -2015, "Invalid API-key, IP, or permissions for action.")
}

func errNotFound() *apiError {
	return newErr(http.StatusNotFound, -1020, "This operation is not supported.")
}

// Messages of -2010 and -2011 (errors.md, "Messages for -1010, -2010 and
// -2011").
const (
	msgDuplicate    = "Duplicate order sent."
	msgInsufficient = "Account has insufficient balance for requested action."
	msgUnknownOrder = "Unknown order sent."
	msgWouldTake    = "Order would immediately match and take."
	msgCombination  = "Unsupported order combination"
)
