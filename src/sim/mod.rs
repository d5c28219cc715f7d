//! The DataRobot simulator (being written).
