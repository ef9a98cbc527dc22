package wizard

import "errors"

var (
	// ErrPlanExists is returned when the plan file is already there and replacing it was
	// not asked for.
	ErrPlanExists = errors.New("the plan file already exists")
	// ErrInputEnded is returned when the input ends before every question is answered.
	ErrInputEnded = errors.New("the input ended before every question was answered")
	// ErrBadFlag is returned when an answer given as a flag is not a valid answer.
	ErrBadFlag = errors.New("invalid answer")
	// ErrKey is returned when the SSH key the plan names cannot be used or created.
	ErrKey = errors.New("SSH key")
	// ErrInvalidPlan is returned when the plan about to be written does not pass
	// validation; nothing is written then.
	ErrInvalidPlan = errors.New("the plan does not pass validation")
)
