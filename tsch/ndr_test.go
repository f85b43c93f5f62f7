package tsch

import (
	"context"
	"testing"

	"github.com/oiweiwei/go-msrpc/msrpc/dtyp"
	tschrpc "github.com/oiweiwei/go-msrpc/msrpc/tsch/itaskschedulerservice/v1"
	"github.com/oiweiwei/go-msrpc/ndr"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// recorder is go-msrpc's generated server side of ITaskSchedulerService
// with canned answers: it decodes what the client encodes. It is a codec
// check, not a peer (no task scheduler behind it).
type recorder struct {
	tschrpc.UnimplementedTaskSchedulerServiceServer
	got any
}

func (r *recorder) RegisterTask(_ context.Context, req *tschrpc.RegisterTaskRequest) (*tschrpc.RegisterTaskResponse, error) {
	r.got = req
	return &tschrpc.RegisterTaskResponse{ActualPath: req.Path, ErrorInfo: &tschrpc.TaskXMLErrorInfo{Line: 3, Column: 7, Node: "Exec", Value: "x"}, Return: -2147216616}, nil
}

func (r *recorder) Run(_ context.Context, req *tschrpc.RunRequest) (*tschrpc.RunResponse, error) {
	r.got = req
	return &tschrpc.RunResponse{GUID: &dtyp.GUID{Data1: 0x11223344, Data2: 0x5566, Data3: 0x7788, Data4: []byte{1, 2, 3, 4, 5, 6, 7, 8}}}, nil
}

func (r *recorder) GetLastRunInfo(_ context.Context, req *tschrpc.GetLastRunInfoRequest) (*tschrpc.GetLastRunInfoResponse, error) {
	r.got = req
	return &tschrpc.GetLastRunInfoResponse{LastRuntime: &dtyp.SystemTime{Year: 2026, Month: 11, Day: 4, Hour: 9, Minute: 30, Second: 1}, LastReturnCode: 3010}, nil
}

func (r *recorder) GetTaskInfo(_ context.Context, req *tschrpc.GetTaskInfoRequest) (*tschrpc.GetTaskInfoResponse, error) {
	r.got = req
	return &tschrpc.GetTaskInfoResponse{Enabled: 1, State: uint32(StateRunning)}, nil
}

func (r *recorder) EnumTasks(_ context.Context, req *tschrpc.EnumTasksRequest) (*tschrpc.EnumTasksResponse, error) {
	r.got = req
	return &tschrpc.EnumTasksResponse{StartIndex: 2, NamesCount: 2, Names: []string{"nxdeploy-1", "Other"}, Return: hrFalse}, nil
}

func (r *recorder) Delete(_ context.Context, req *tschrpc.DeleteRequest) (*tschrpc.DeleteResponse, error) {
	r.got = req
	return &tschrpc.DeleteResponse{Return: int32(-2147024894)}, nil // 0x80070002
}

// roundTrip encodes req as the client does, decodes it with the server
// stub, and decodes the stub's answer into resp, in NDR 2.0 and NDR64.
func roundTrip(t *testing.T, r *recorder, opnum int, req ndr.Marshaler, resp ndr.Unmarshaler) {
	t.Helper()
	ctx := context.Background()
	for _, codec := range []func([]byte, ...any) ndr.NDR{ndr.NDR20, ndr.NDR64} {
		w := codec(nil)
		require.NoError(t, req.MarshalNDR(ctx, w))
		op, err := tschrpc.TaskSchedulerServiceServerHandle(ctx, r, opnum, codec(w.Bytes()))
		require.NoError(t, err)
		out := codec(nil)
		require.NoError(t, op.MarshalNDRResponse(ctx, out))
		require.NoError(t, resp.UnmarshalNDR(ctx, codec(out.Bytes())))
	}
}

func TestNDRRoundTrips(t *testing.T) {
	r := &recorder{}
	doc, err := sampleTask.XML()
	require.NoError(t, err)

	reg := &tschrpc.RegisterTaskRequest{Path: sampleTask.Path(), XML: doc, Flags: taskCreate, LogonType: logonServiceAccount}
	var regResp tschrpc.RegisterTaskResponse
	roundTrip(t, r, 1, reg, &regResp)
	assert.Equal(t, reg, r.got)
	assert.Equal(t, `\nxdeploy-4f2a-0001`, regResp.ActualPath)
	assert.Equal(t, "Exec", regResp.ErrorInfo.Node)
	assert.Equal(t, uint32(0x80041318), uint32(regResp.Return))

	run := &tschrpc.RunRequest{Path: `\a`, Flags: runIgnoreConstraints}
	var runResp tschrpc.RunResponse
	roundTrip(t, r, 12, run, &runResp)
	assert.Equal(t, run, r.got)
	assert.Equal(t, "11223344-5566-7788-0102-030405060708", runResp.GUID.String())

	lr := &tschrpc.GetLastRunInfoRequest{Path: `\a`}
	var lrResp tschrpc.GetLastRunInfoResponse
	roundTrip(t, r, 16, lr, &lrResp)
	assert.Equal(t, lr, r.got)
	assert.Equal(t, uint32(3010), lrResp.LastReturnCode)
	assert.Equal(t, uint16(2026), lrResp.LastRuntime.Year)

	ti := &tschrpc.GetTaskInfoRequest{Path: `\a`, Flags: schFlagState}
	var tiResp tschrpc.GetTaskInfoResponse
	roundTrip(t, r, 17, ti, &tiResp)
	assert.Equal(t, ti, r.got)
	assert.Equal(t, uint32(StateRunning), tiResp.State)

	en := &tschrpc.EnumTasksRequest{Path: `\`, Flags: taskEnumHidden, RequestedCount: enumPage}
	var enResp tschrpc.EnumTasksResponse
	roundTrip(t, r, 7, en, &enResp)
	assert.Equal(t, en, r.got)
	assert.Equal(t, []string{"nxdeploy-1", "Other"}, enResp.Names)
	assert.Equal(t, int32(hrFalse), enResp.Return)

	del := &tschrpc.DeleteRequest{Path: `\a`}
	var delResp tschrpc.DeleteResponse
	roundTrip(t, r, 13, del, &delResp)
	assert.Equal(t, del, r.got)
	assert.ErrorIs(t, result(delResp.Return, nil), ErrTaskNotFound)
}
