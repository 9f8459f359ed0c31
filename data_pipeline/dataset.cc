// placeholder until the data pipeline lands
namespace grec::data {}
