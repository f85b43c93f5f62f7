package rpc

import (
	"context"

	"github.com/nxdeploy/deployer/deployertest/internal/pipe"
	"github.com/nxdeploy/deployer/deployertest/internal/tasksched"
	"github.com/oiweiwei/go-msrpc/msrpc/dtyp"
	tschrpc "github.com/oiweiwei/go-msrpc/msrpc/tsch/itaskschedulerservice/v1"
)

// atsvcSyntax is ITaskSchedulerService 1.0 ([MS-TSCH] 3.2).
var atsvcSyntax = fromDCERPC(tschrpc.TaskSchedulerServiceSyntaxV1_0)

// atsvcServer is ITaskSchedulerService over a tasksched.Scheduler, for
// one association. The caller must be an administrator to register, run,
// stop or delete (E_ACCESSDENIED otherwise).
type atsvcServer struct {
	tschrpc.UnimplementedTaskSchedulerServiceServer
	tasks  *tasksched.Scheduler
	caller pipe.Caller
}

// hr is an HRESULT as the generated stubs carry it.
func hr(code uint32) int32 { return int32(code) }

// HighestVersion reports version 1.6 (Windows 10 and later).
func (s *atsvcServer) HighestVersion(context.Context, *tschrpc.HighestVersionRequest) (*tschrpc.HighestVersionResponse, error) {
	return &tschrpc.HighestVersionResponse{Version: 0x00010006}, nil
}

func (s *atsvcServer) RegisterTask(_ context.Context, req *tschrpc.RegisterTaskRequest) (*tschrpc.RegisterTaskResponse, error) {
	path, code, xe := s.tasks.Register(req.Path, req.XML, req.Flags, s.caller.Admin)
	resp := &tschrpc.RegisterTaskResponse{ActualPath: path, Return: hr(code)}
	if xe != nil {
		resp.ErrorInfo = &tschrpc.TaskXMLErrorInfo{Line: xe.Line, Column: xe.Column, Node: xe.Node}
	}
	return resp, nil
}

func (s *atsvcServer) RetrieveTask(_ context.Context, req *tschrpc.RetrieveTaskRequest) (*tschrpc.RetrieveTaskResponse, error) {
	text, code := s.tasks.Definition(req.Path)
	return &tschrpc.RetrieveTaskResponse{XML: text, Return: hr(code)}, nil
}

func (s *atsvcServer) Run(_ context.Context, req *tschrpc.RunRequest) (*tschrpc.RunResponse, error) {
	id, code := s.tasks.Run(req.Path, s.caller.Admin)
	g, _ := dtyp.GUIDFromBytes(id[:])
	return &tschrpc.RunResponse{GUID: g, Return: hr(code)}, nil
}

func (s *atsvcServer) Stop(_ context.Context, req *tschrpc.StopRequest) (*tschrpc.StopResponse, error) {
	return &tschrpc.StopResponse{Return: hr(s.tasks.Stop(req.Path, s.caller.Admin))}, nil
}

func (s *atsvcServer) Delete(_ context.Context, req *tschrpc.DeleteRequest) (*tschrpc.DeleteResponse, error) {
	return &tschrpc.DeleteResponse{Return: hr(s.tasks.Delete(req.Path, s.caller.Admin))}, nil
}

func (s *atsvcServer) GetLastRunInfo(_ context.Context, req *tschrpc.GetLastRunInfoRequest) (*tschrpc.GetLastRunInfoResponse, error) {
	at, last, code := s.tasks.LastRun(req.Path)
	resp := &tschrpc.GetLastRunInfoResponse{LastRuntime: &dtyp.SystemTime{}, LastReturnCode: last, Return: hr(code)}
	if !at.IsZero() {
		// SYSTEMTIME in the host's local time.
		resp.LastRuntime = &dtyp.SystemTime{Year: uint16(at.Year()), Month: uint16(at.Month()),
			DayOfWeek: uint16(at.Weekday()), Day: uint16(at.Day()), Hour: uint16(at.Hour()),
			Minute: uint16(at.Minute()), Second: uint16(at.Second()), Milliseconds: uint16(at.Nanosecond() / 1e6)}
	}
	return resp, nil
}

func (s *atsvcServer) GetTaskInfo(_ context.Context, req *tschrpc.GetTaskInfoRequest) (*tschrpc.GetTaskInfoResponse, error) {
	enabled, state, code := s.tasks.Info(req.Path)
	resp := &tschrpc.GetTaskInfoResponse{State: state, Return: hr(code)}
	if enabled {
		resp.Enabled = 1
	}
	return resp, nil
}

// taskEnumHidden is TASK_ENUM_HIDDEN.
const taskEnumHidden = 0x1

func (s *atsvcServer) EnumTasks(_ context.Context, req *tschrpc.EnumTasksRequest) (*tschrpc.EnumTasksResponse, error) {
	names, next, code := s.tasks.Enum(req.Path, req.Flags&taskEnumHidden != 0, req.StartIndex, req.RequestedCount)
	return &tschrpc.EnumTasksResponse{StartIndex: next, NamesCount: uint32(len(names)), Names: names, Return: hr(code)}, nil
}

func (s *atsvcServer) EnumInstances(_ context.Context, req *tschrpc.EnumInstancesRequest) (*tschrpc.EnumInstancesResponse, error) {
	ids, code := s.tasks.Instances(req.Path)
	resp := &tschrpc.EnumInstancesResponse{Return: hr(code)}
	for _, id := range ids {
		g, _ := dtyp.GUIDFromBytes(id[:])
		resp.GUIDs = append(resp.GUIDs, g)
	}
	resp.GUIDsCount = uint32(len(resp.GUIDs))
	return resp, nil
}
