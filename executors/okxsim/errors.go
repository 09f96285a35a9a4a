package okxsim

import (
	"encoding/json"
	"fmt"
	"net/http"
)

// result is one REST answer: OKX's envelope {code, msg, data} with the
// HTTP status it is sent with. A refused single-order operation is code
// "1" with the reason in data[0].sCode and sMsg, as OKX answers it.
type result struct {
	status int
	code   string
	msg    string
	data   any
}

func (r result) MarshalJSON() ([]byte, error) {
	data := r.data
	if data == nil {
		data = []any{}
	}
	return json.Marshal(struct {
		Code string `json:"code"`
		Msg  string `json:"msg"`
		Data any    `json:"data"`
	}{r.code, r.msg, data})
}

func ok(data any) result { return result{status: http.StatusOK, code: "0", data: data} }

func fail(status int, code, format string, args ...any) result {
	msg := format
	if len(args) > 0 {
		msg = fmt.Sprintf(format, args...)
	}
	return result{status: status, code: code, msg: msg}
}

// OKX's error codes and messages (docs-v5 "Error Code", REST API).
func errInternal() result {
	return fail(http.StatusServiceUnavailable, "50001", "Service temporarily unavailable. Please try again later.")
}
func errEndpointTimeout() result {
	return fail(http.StatusBadRequest, "50004", "API endpoint request timeout. (does not mean that the request was successful or failed, please check the request result).")
}
func errRateLimit() result {
	return fail(http.StatusTooManyRequests, "50011", "Too Many Requests")
}
func errEmptyParam(p string) result {
	return fail(http.StatusBadRequest, "50014", "Parameter %s can not be empty.", p)
}
func errEither(a, b string) result {
	return fail(http.StatusBadRequest, "50015", "Either parameter %s or %s is required", a, b)
}
func errParam(p string) result { return fail(http.StatusBadRequest, "51000", "Parameter %s error", p) }
func errJSON() result          { return fail(http.StatusBadRequest, "50002", "JSON syntax error") }
func errContentType() result {
	return fail(http.StatusBadRequest, "50006", "Invalid Content-Type. Please use \"application/JSON\".")
}
func errNotFound() result {
	return fail(http.StatusNotFound, "50005", "API endpoint is inactive or unavailable.")
}
func errNoOrder() result { return fail(http.StatusOK, "51603", "Order does not exist.") }
func errNoInstrument() result {
	return fail(http.StatusOK, "51001", "Instrument ID, Instrument ID code or Spread ID doesn't exist.")
}

// Authentication refusals, all HTTP 401 except where noted.
func errNoKey() result {
	return fail(http.StatusUnauthorized, "50103", "Request header \"OK-ACCESS-KEY\" cannot be empty.")
}
func errNoPassphrase() result {
	return fail(http.StatusUnauthorized, "50104", "Request header \"OK-ACCESS-PASSPHRASE\" cannot be empty.")
}
func errBadPassphrase() result {
	return fail(http.StatusUnauthorized, "50105", "Request header \"OK-ACCESS-PASSPHRASE\" incorrect.")
}
func errNoSign() result {
	return fail(http.StatusUnauthorized, "50106", "Request header \"OK-ACCESS-SIGN\" cannot be empty.")
}
func errNoTimestamp() result {
	return fail(http.StatusUnauthorized, "50107", "Request header \"OK-ACCESS-TIMESTAMP\" cannot be empty.")
}
func errTimestampExpired() result {
	return fail(http.StatusUnauthorized, "50102", "Timestamp request expired.")
}
func errBadKey() result { return fail(http.StatusUnauthorized, "50111", "Invalid OK-ACCESS-KEY.") }
func errBadTimestamp() result {
	return fail(http.StatusUnauthorized, "50112", "Invalid OK-ACCESS-TIMESTAMP.")
}
func errBadSign() result { return fail(http.StatusUnauthorized, "50113", "Invalid signature.") }

// opResult is a single-order operation's answer: data[0] carries sCode.
type opResult struct {
	ClOrdID string `json:"clOrdId"`
	OrdID   string `json:"ordId"`
	Tag     string `json:"tag"`
	TS      string `json:"ts"`
	SCode   string `json:"sCode"`
	SMsg    string `json:"sMsg"`
	SubCode string `json:"subCode"`
}

// opFail refuses one order operation: HTTP 200, code 1, sCode in data.
func opFail(r opResult, sCode, format string, args ...any) result {
	r.SCode, r.SMsg = sCode, format
	if len(args) > 0 {
		r.SMsg = fmt.Sprintf(format, args...)
	}
	return result{status: http.StatusOK, code: "1", msg: "All operations failed", data: []opResult{r}}
}

// Per-order refusal codes (sCode).
const (
	sExpired       = "50037" // Order expired. (expTime passed)
	sSubAccount    = "50061" // You've reached the maximum order rate limit for this account.
	sParam         = "51000"
	sNoInstrument  = "51001"
	sInsufficient  = "51008"
	sReduceOnly    = "51139"
	sDuplicate     = "51016"
	sMinAmount     = "51020"
	sMaxAmount     = "51203"
	sLotSize       = "51121"
	sCancelFailed  = "51400"
	msgSubAccount  = "You've reached the maximum order rate limit for this account."
	msgDuplicate   = "Client order ID already exists."
	msgCancelFail  = "Order cancellation failed as the order has been filled, canceled or does not exist."
	msgLotSize     = "Order quantity must be a multiple of the lot size."
	msgMinAmount   = "Your order should meet or exceed the minimum order amount."
	msgReduceOnly  = "Reduce-only feature is unavailable for the spot transactions by spot mode."
	msgOrderExpire = "Order expired."
)
